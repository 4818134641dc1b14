"""What the tests share: fakes and servers on loopback, the served gateway, configs and parsers.

Test modules import from here and never from one another or from tests/conftest.py, which holds
fixtures only (tests/test_suite_layout.py checks it).
"""
