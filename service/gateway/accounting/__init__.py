"""Tokens and cost: counting with tiktoken, pricing with genai-prices."""
