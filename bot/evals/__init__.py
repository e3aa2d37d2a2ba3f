"""`aios eval`: run the agent team on a task set through the real pipeline and judge the result."""
