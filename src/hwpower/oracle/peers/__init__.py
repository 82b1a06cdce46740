"""Cross-checks of the oracle against peer tools that cost whole networks (Stream)."""
