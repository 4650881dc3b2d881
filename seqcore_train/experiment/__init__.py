"""Experiments from a TOML plan: plan, status, runner, report; imports the jobs and everything below them, never the front ends."""
