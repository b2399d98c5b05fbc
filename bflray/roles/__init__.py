"""Plain classes that actors host; each is usable without Ray."""

from bflray.roles.hospital_block import HospitalBlock, encode_payload

__all__ = ["HospitalBlock", "encode_payload"]
