"""``python -m emulators``: run the local Azure stack in the foreground.

Prints ``export NAME=value`` lines for a shell (``eval "$(python -m emulators ...)"`` does not
work because the process keeps running: copy the lines, or write them with ``--env-file``), then
waits for Ctrl-C. Azurite is started too when ``node_modules/azurite`` is installed.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path

from emulators import azurite
from emulators.stack import AzureStack

OFFICER = "Key Vault Secrets Officer"
#: The vault created when no ``--vault`` is given: https://local-vault.vault.azure.net.
DEFAULT_VAULT = "local-vault"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators", description="Run the local Azure emulators."
    )
    parser.add_argument(
        "--vault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"vault to create (repeat; default {DEFAULT_VAULT}); the first is VAULT_URL",
    )
    parser.add_argument(
        "--identity", metavar="CLIENT_ID", help="client id of the user-assigned identity"
    )
    parser.add_argument("--proxy-port", type=int, default=0, help="proxy port (default: free)")
    parser.add_argument(
        "--identity-port", type=int, default=0, help="identity endpoint port (default: free)"
    )
    parser.add_argument("--env-file", type=Path, help="also write the export lines to this file")
    parser.add_argument("--no-azurite", action="store_true", help="do not start Azurite")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start everything, print the environment, serve until SIGINT/SIGTERM."""
    args = _parse(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with AzureStack(proxy_port=args.proxy_port, identity_port=args.identity_port) as stack:
        identity = stack.identity.add_identity(args.identity)
        vault_urls = []
        for vault in args.vault or [DEFAULT_VAULT]:
            vault_urls.append(stack.keyvault.create_vault(vault))
            stack.keyvault.assign_role(vault, identity.principal_id, OFFICER)
        env = dict(stack.env())
        env["AZURE_CLIENT_ID"] = identity.client_id
        # The first vault for a client (VAULT_URL, as Microsoft's samples name it); every vault
        # for the app (ROTATION_VAULTS), so `func start` or the demo can use them as they are.
        env["VAULT_URL"] = vault_urls[0]
        env["ROTATION_VAULTS"] = ",".join(vault_urls)
        storage: azurite.Azurite | None = None
        if not args.no_azurite and azurite.installed():
            storage = azurite.Azurite().start()
            env["AzureWebJobsStorage"] = storage.connection_string
        try:
            lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
            if args.env_file:  # before printing: whoever reads the lines may read the file
                args.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print("\n".join(lines), flush=True)
            print(f"# serving {', '.join(vault_urls)}; Ctrl-C to stop", file=sys.stderr, flush=True)
            stack.eventgrid.start()  # deliver events and watch expiry in the background
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
        finally:
            stack.eventgrid.stop()
            if storage is not None:
                storage.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
