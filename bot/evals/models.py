"""The names `aios eval --model` gives the scripted models and the default route, and the
exit codes of `aios eval`.

Kept apart, with no imports, so that parsing `aios` arguments loads no task machinery and the
run's modules need not import the command.
"""

SCRIPTED = ("scripted", "scripted-wrong")
"""The scripted models: the task's `solution.yml` and `wrong.yml` (`bot.evals.task.SCRIPTS`)."""
DEFAULT_ROUTE = "default"
"""`--config` without `--model`: the real model on AIOS's default routes and the file's."""

EXIT_UNRESOLVED = 1
"""A run with a task left unresolved."""
EXIT_USAGE = 2
"""Arguments, a task set, a configuration or a results file that cannot be used."""
