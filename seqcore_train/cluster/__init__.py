"""The cluster plan and its executors (serial steps, Ray tasks); imports the jobs and everything below them, never the front ends; only `ray_tasks` imports Ray."""
