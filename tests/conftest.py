"""Fixtures shared by the test files."""

import numba
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small worlds on shared cores: one numba and torch thread is faster and deterministic."""
    numba_threads, torch_threads = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(numba_threads)
    torch.set_num_threads(torch_threads)
