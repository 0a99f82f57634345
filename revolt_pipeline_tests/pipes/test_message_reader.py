"""The local Spark job's messages reach the step whole, however the job's writes reach the file."""

import sys
import threading
import time
from pathlib import Path

import dagster as dg

from revolt_pipeline.defs.spark.resources import WholeLinesMessageReader, whole_lines

# A job whose every message reaches the file in two writes, 0.2 s apart: what the kernel does to a long one, page by
# page, made slow enough that the reader always finds the first half alone.
JOB_WRITING_IN_HALVES = """
import json, time
from contextlib import contextmanager
from dagster_pipes import PipesDefaultMessageWriter, PipesFileMessageWriterChannel, open_dagster_pipes

class Halves(PipesFileMessageWriterChannel):
    def write_message(self, message):
        line = json.dumps(message) + "\\n"
        with open(self._path, "a", encoding="utf-8") as file:
            for half in (line[: len(line) // 2], line[len(line) // 2 :]):
                file.write(half)
                file.flush()
                time.sleep(0.2)

class Writer(PipesDefaultMessageWriter):
    @contextmanager
    def open(self, params):
        yield Halves(params[self.FILE_PATH_KEY])

with open_dagster_pipes(message_writer=Writer()) as pipes:
    pipes.report_custom_message({"day": "2026-11-20", "preview": "x" * 50_000})
    pipes.report_custom_message({"day": "2026-11-21"})
"""


def test_a_line_is_handed_over_once_it_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "messages"
    path.write_text('{"first": 1}\n{"second": ')
    finished = threading.Event()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(whole_lines(str(path), finished.is_set)))
    reader.start()
    time.sleep(0.3)
    with path.open("a") as file:
        file.write('2}\n{"last": 3}')  # the writer stopped without a line end: still all it wrote
    finished.set()
    reader.join(10)
    assert lines == ['{"first": 1}\n', '{"second": 2}\n', '{"last": 3}']


def test_what_lands_between_the_last_read_and_the_writers_end_is_read(tmp_path: Path) -> None:
    path = tmp_path / "messages"
    path.write_text('{"first": 1}\n')

    def finished() -> bool:  # the job's last message lands after the reader found the end of the file
        with path.open("a") as file:
            file.write('{"last": 2}\n')
        return True

    assert list(whole_lines(str(path), finished)) == ['{"first": 1}\n', '{"last": 2}\n']


def test_a_message_written_in_pieces_reaches_the_step_whole(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(JOB_WRITING_IN_HALVES)
    received: list[object] = []

    @dg.asset
    def launched(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        client = dg.PipesSubprocessClient(message_reader=WholeLinesMessageReader())
        received.extend(client.run(context=context, command=[sys.executable, str(job)]).get_custom_messages())
        return dg.MaterializeResult()

    assert dg.materialize([launched]).success
    assert received == [{"day": "2026-11-20", "preview": "x" * 50_000}, {"day": "2026-11-21"}]
