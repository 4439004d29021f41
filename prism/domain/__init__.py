"""Domain: enums, value objects and pure rules, free of I/O."""
