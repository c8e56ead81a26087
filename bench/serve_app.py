"""Fallback server for part (b), used only when the CLI has no `flowport serve`: migrate,
create the bootstrap admin from FLOWPORT_BOOTSTRAP_ADMIN_TOKEN, run uvicorn on create_app."""

from __future__ import annotations

import argparse
import os


def main() -> None:
    import uvicorn

    from flowport.api.app import create_app
    from flowport.config import Settings
    from flowport.services import auth
    from flowport.services.context import Context
    from flowport.store.migrate import upgrade

    parser = argparse.ArgumentParser(prog="python -m bench.serve_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url, host=args.host, port=args.port)
    upgrade(settings.database_url)
    ctx = Context.build(settings)
    try:
        auth.bootstrap_admin(ctx, os.environ.get("FLOWPORT_BOOTSTRAP_ADMIN_TOKEN"))
        uvicorn.run(create_app(ctx), host=args.host, port=args.port, workers=1,
                    log_level=args.log_level, server_header=False)
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
