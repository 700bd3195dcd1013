"""Built-in plugins: each module registers one implementation through the hook specs."""
