"""Doctor check of the model providers: is a key set, and does each provider take it?"""

from __future__ import annotations

from bot.app.doctor.findings import Finding, Probe, bad, good
from bot.settings import Settings, SettingsError

SET_A_KEY = (
    "open /setup/model on the running server (it checks the key before saving it), or set "
    "{variable} in .env and restart `aios serve`"
)


async def check_model(_settings: Settings, _probe: Probe) -> list[Finding]:
    """One models listing per provider that has a key: the one the agents use must answer."""
    # Here, not at the top: `aios serve`'s web process imports the CLI, and the model SDKs
    # stay out of it (tests/test_architecture.py).
    from bot.agents.config import KEY_VARIABLES, AgentConfig  # (see above)
    from bot.agents.llm.probe import probe  # (see above)

    try:
        config = AgentConfig.from_env()
    except SettingsError as exc:
        return [bad(f"model settings: {exc}", f"correct {exc.variable}")]
    findings: list[Finding] = []
    if (missing := config.missing_key()) is not None:
        findings.append(
            bad(
                f"no model key: agents use {config.provider} and {missing} is not set; "
                "labeled issues will stop at their first step",
                SET_A_KEY.format(variable=missing),
            )
        )
    for provider, key, base_url in (
        ("anthropic", config.anthropic_api_key, config.anthropic_base_url),
        ("openai", config.openai_api_key, config.openai_base_url),
    ):
        if not key:
            continue
        result = await probe(provider, api_key=key, base_url=base_url)
        where = base_url or "its public API"
        if result.ok:
            seen = ", ".join(result.models[:3]) or "no models listed"
            findings.append(good(f"model provider {provider} at {where} takes the key ({seen})"))
        else:
            findings.append(
                bad(
                    f"model provider {provider} at {where}: {result.error}",
                    SET_A_KEY.format(variable=KEY_VARIABLES[provider]),
                )
            )
    return findings
