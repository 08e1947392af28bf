"""Local emulations of the vendors' APIs and exports.

Real HTTP servers on 127.0.0.1 that follow each vendor's documented behaviour
(paging, rate limits, token expiry, failures), serving generated accounts of
any size.  The test suites, the benchmarks and ``flitstack demo`` use them;
nothing here is used when talking to a real vendor.
"""
