"""HTTP endpoints: GraphQL over HTTP, GraphiQL, health and metrics."""
