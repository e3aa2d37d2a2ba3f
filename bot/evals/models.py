"""The names `aios eval --model` gives the scripted models and the default route.

Kept apart, with no imports, so that parsing `aios` arguments loads no task machinery and the
run's modules need not import the command.
"""

SCRIPTED = ("scripted", "scripted-wrong")
"""The scripted models: the task's `solution.yml` and `wrong.yml` (`bot.evals.task.SCRIPTS`)."""
DEFAULT_ROUTE = "default"
"""`--config` without `--model`: the real model on AIOS's default routes and the file's."""
