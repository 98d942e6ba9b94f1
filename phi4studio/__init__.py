"""Phi-4 Studio: fine-tune Phi-4-family models for tool calling; run them with ORT GenAI."""

__version__ = "0.1.0"
APP_NAME = "Phi-4 Studio"
APP_ID = "phi4studio"
