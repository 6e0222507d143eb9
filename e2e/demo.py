"""`make run`: an echo upstream on 127.0.0.1:10100 and Envoy on 127.0.0.1:10000 with the filter
and filters/demo.json (envoy-config/demo.yaml). Stays in the foreground; Ctrl-C stops both
(Envoy exits with its parent)."""
import os
import pathlib
import signal
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from echo import serve  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    serve(10100)
    envoy = subprocess.Popen([str(ROOT / ".venv" / "bin" / "envoy"), "-c", "envoy-config/demo.yaml",
                              "--concurrency", "2", "--log-level", "warn", "--component-log-level", "wasm:info",
                              "--base-id", "4000"], cwd=ROOT)
    print("Envoy with oauth-filter on http://127.0.0.1:10000 (admin on 127.0.0.1:9901); Ctrl-C stops.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: envoy.terminate())
    try:
        sys.exit(envoy.wait())
    except KeyboardInterrupt:
        envoy.terminate()
        envoy.wait()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
