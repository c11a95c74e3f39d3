"""The load test (`make load`): a locust scenario against `make local`, and its report."""
