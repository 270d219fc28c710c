"""``dialer simulator`` (exotel_sim.cli): help, option parsing, foreground run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import click
import pytest
import requests
from click.testing import CliRunner

from exotel_sim.cli import _build_config, simulator
from tests.stack import wait_for


def test_help_documents_every_switch_and_the_magic_numbers() -> None:
    result = CliRunner().invoke(simulator, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text = result.output
    flags = [opt for param in simulator.params for opt in (*param.opts, *param.secondary_opts)]
    assert len(flags) > 25
    for flag in flags:
        assert flag in text, flag
    for switch in ("--error-5xx-ratio", "--accept-then-drop-ratio", "--callback-drop-ratio",
                   "--callback-duplicate-ratio", "--callback-delay-s", "--callback-reorder",
                   "--latency-s", "--limit-calls", "--limit-window-s", "--virtual-number",
                   "--account", "--time-scale", "--seed", "--outcome"):
        assert switch in text
    for magic in (r"91\s+busy", r"92\s+no-answer", r"93\s+failed", r"95\s+accept-then-drop",
                  r"96\s+the POST answers 500"):
        assert re.search(magic, text), magic
    assert simulator.name == "simulator"


def _options(*args: str) -> dict[str, object]:
    context = simulator.make_context("simulator", list(args))
    opts = dict(context.params)
    for name in ("host", "port", "scenario", "log_level"):
        opts.pop(name)
    return opts


def test_options_build_the_config() -> None:
    config = _build_config(_options(
        "--account", "AC1:key1:tok1", "--account", "AC2:key2:tok:with:colons",
        "--virtual-number", "+912241499102", "--limit-calls", "20", "--limit-window-s", "2",
        "--time-scale", "0.01", "--seed", "4", "--outcome", "answered=0.7",
        "--outcome", "busy=0.3", "--leg2-outcome", "failed=1", "--error-5xx-ratio", "0.1",
        "--accept-then-drop-ratio", "0.2", "--callback-drop-ratio", "0.3",
        "--callback-duplicate-ratio", "0.4", "--callback-delay-s", "1.5", "--callback-reorder",
        "--latency-s", "0.05", "--ring-s", "2", "--talk-s", "9",
    ))
    assert set(config.accounts) == {"AC1", "AC2"}
    assert config.accounts["AC2"].api_token.get_secret_value() == "tok:with:colons"
    assert (config.limit_calls, config.limit_window_s, config.time_scale) == (20, 2.0, 0.01)
    assert config.outcomes == {"answered": 0.7, "busy": 0.3}
    assert config.leg2_outcomes == {"failed": 1.0} and config.leg1_outcomes is None
    assert (config.error_5xx_ratio, config.accept_then_drop_ratio) == (0.1, 0.2)
    assert (config.callback_drop_ratio, config.callback_duplicate_ratio) == (0.3, 0.4)
    assert config.callback_delay_s == 1.5 and config.callback_reorder
    assert (config.latency_s, config.ring_s, config.talk_s, config.seed) == (0.05, 2, 9, 4)
    assert config.virtual_numbers == ["+912241499102"]
    defaults = _build_config(_options())
    assert list(defaults.accounts) == ["AC_SIM"] and defaults.limit_calls == 200


@pytest.mark.parametrize("args", [["--account", "AC_ONLY"], ["--outcome", "ringing=1"],
                                  ["--error-5xx-ratio", "3"], ["--scenario", "0911"]])
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    if args[0] == "--scenario":
        result = CliRunner().invoke(simulator, [*args, "--port", "0"])
        assert result.exit_code == 2
        return
    with pytest.raises(click.UsageError):
        _build_config(_options(*args))


def test_runs_in_the_foreground_until_interrupted() -> None:
    command = [sys.executable, "-m", "exotel_sim.cli", "--port", "0", "--time-scale",
               "0.01", "--scenario", "09111111100=busy"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        def answers() -> bool:
            try:
                return requests.get(url + "/_sim/health", timeout=1).ok
            except requests.ConnectionError:
                return False

        wait_for(answers, 10, "the simulator to answer", interval_s=0.02)
        response = requests.post(
            url + "/v1/Accounts/AC_SIM/Calls/connect.json",
            data={"From": "09111111100", "To": "09222222200", "CallerId": "080"},
            auth=("sim_key", "sim_token"), timeout=5)
        assert response.status_code == 200
        idle = requests.get(url + "/_sim/idle", params={"timeout_s": 5}, timeout=10).json()
        assert idle["idle"]
        assert requests.get(url + "/_sim/calls", timeout=5).json()[0]["status"] == "busy"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()
    assert proc.returncode == 0
