"""Business logic. Views, admin actions, jobs and commands call these functions, never the models directly."""
