"""Local stand-ins for AWS services that speak the real wire protocols."""
