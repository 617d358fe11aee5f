"""The 服务 entries of the side navigation."""


def register_navigation() -> None:
    pass
