"""metrosim: an agent-based model of metropolitan governance and urban sprawl."""

__version__ = "0.1.0"
