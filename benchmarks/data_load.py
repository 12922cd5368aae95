"""Cold and warm start: decoding the image folder the first time, then reading the cache.

Loads the data set into a fresh, empty cache folder (cold: every JPEG decoded, in one process
per core) and then again from that cache (warm), and prints both. `--threads` also times a cold
decode started from a second thread, where the loader decodes in threads as it did before it
had processes (forking a threaded process is not safe). The last line is `cold_load_s: X`.

    CIFAR_LAB_DATA=../shared/data/cifar10-jpeg python benchmarks/data_load.py [--threads]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import data_source, machine

from lab.data import load_dataset


def timed_load(source: str, cache_dir: Path) -> float:
    start = time.perf_counter()
    loaded = load_dataset(source, cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    print(f"  {len(loaded.train) + len(loaded.test):,} images in {seconds:.2f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", action="store_true", help="also time the threaded decode")
    args = parser.parse_args()
    source = data_source()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        print("cold (decoded in one process per core):")
        cold = timed_load(source, Path(folder) / "parallel")
        print("warm (from the cache just written):")
        warm = timed_load(source, Path(folder) / "parallel")
        if args.threads:
            print("cold, started from a second thread (decoded in threads):")
            with ThreadPoolExecutor(1) as thread:
                threaded = thread.submit(timed_load, source, Path(folder) / "threads").result()
            print(f"processes: {threaded / cold:.2f}x faster than threads")
    print(f"warm_load_s: {warm:.2f}")
    print(f"cold_load_s: {cold:.2f}")


if __name__ == "__main__":
    main()
