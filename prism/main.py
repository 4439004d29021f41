"""The ASGI application uvicorn serves, built from the environment."""

from prism.app import build_app

app = build_app()
