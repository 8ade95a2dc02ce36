"""Testbenches shared by the test suite and ``attnforge verify``: stimulus and golden values
(vectors.py), a cocotb stream driver/monitor/scoreboard (stream_tb.py, systolic_tb.py) and the
same checks under Amaranth's simulator (amsim.py)."""
