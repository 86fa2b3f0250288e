"""pytest-asyncio alone: async fixtures set up and tear down in different tasks."""
