"""The per-client connection cap of firmware/api/connections.py, counted without a server
(the real server's behaviour is in tests/test_security_auth.py and test_security_https.py)."""

from __future__ import annotations

from firmware.api import connections


class Transport:
    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str):
        return (self.address, 40000) if name == "peername" else None


def test_one_client_gets_32_connections_and_a_trusted_proxy_carries_everyone():
    admitted = []
    try:
        for address in ["192.0.2.7"] * 33 + ["2001:db8::1", "2001:db8::2"] * 17:
            admitted.append(connections._admit(Transport(address), frozenset()))
        assert admitted[:32] == ["192.0.2.7"] * 32 and admitted[32] is None
        v6 = admitted[33:]
        assert v6.count(None) == 2  # one /64: one client, whatever address it picks
        proxied = [connections._admit(Transport("10.0.0.2"), frozenset({"10.0.0.2"}))
                   for _ in range(100)]
        admitted += proxied
        assert None not in proxied
    finally:
        for key in admitted:
            connections._release(key)
    assert not connections.open_by_client
