"""The ``mlledger`` command line (click): parses, calls a service, prints."""
