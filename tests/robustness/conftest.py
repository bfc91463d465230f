"""Fixtures the robustness tests share with the ingest tests."""

from tests.pipelines.ingest.conftest import file_server  # noqa: F401 - a fixture, registered by being imported here
