"""Demo data (placeholder until implemented)."""


def demo_cli(*, persons: int, seed: int, reset: bool) -> int:
    return 0


def print_demo_logins() -> None:
    return None
