"""``python -m apps.discovery.agent [--config agent.yaml] [--server URL] [--token T] [--once]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from apps.discovery.agent.client import AgentRejected, AgentRevoked, ServerError
from apps.discovery.agent.config import ConfigError, load_config
from apps.discovery.agent.runner import AgentRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.discovery.agent",
        description="Collect cloud networks locally and push them to CloudPAM.",
    )
    parser.add_argument("--config", type=Path, help="the YAML configuration file")
    parser.add_argument("--server", help="the CloudPAM URL (overrides the file)")
    parser.add_argument("--token", help="a provisioning token, to register (overrides the file)")
    parser.add_argument("--state-file", help="where the agent keeps its credential")
    parser.add_argument("--once", action="store_true", help="run one cycle, then exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    log = logging.getLogger("cloudpam.agent")
    try:
        config = load_config(
            args.config,
            server=args.server,
            provisioning_token=args.token,
            state_file=args.state_file,
        )
        AgentRunner(config).run(once=args.once)
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    except (AgentRevoked, AgentRejected) as exc:
        log.error("the server no longer accepts this agent: %s", exc.message)
        return 3
    except ServerError as exc:
        log.error("the server refused: %s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
