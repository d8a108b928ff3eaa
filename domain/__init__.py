"""The control room's domain: reports, citizens, lifecycle, SLA clocks and the queue.

Imports no web framework and no scheduler: everything here is plain Python plus SQLAlchemy.
"""
