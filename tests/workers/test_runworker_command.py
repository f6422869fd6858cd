import pytest
from django.core.management import CommandError, call_command

from backend.experiments.management.commands.runworker import worker_invocation


def test_a_gpu_worker_consumes_the_gpu_queue_with_one_process_and_one_visible_gpu(settings):
    settings.SAMPLEWISE_QUEUE_PREFIX = ""
    invocation = worker_invocation(device="cuda:1", concurrency=4, beat=False)

    assert invocation.queue == "gpu"
    assert invocation.env["CUDA_VISIBLE_DEVICES"] == "1"
    assert invocation.env["SAMPLEWISE_DEVICE"] == "cuda"
    assert invocation.argv[invocation.argv.index("--concurrency") + 1] == "1"
    assert invocation.argv[invocation.argv.index("--queues") + 1] == "gpu"


def test_a_cpu_worker_consumes_the_prefixed_cpu_queue_and_may_run_the_reaper(settings):
    settings.SAMPLEWISE_QUEUE_PREFIX = "lab-"
    invocation = worker_invocation(device="cpu", concurrency=2, beat=True)

    assert invocation.queue == "lab-cpu"
    assert invocation.env["SAMPLEWISE_DEVICE"] == "cpu"
    assert invocation.argv[invocation.argv.index("--concurrency") + 1] == "2"
    assert "--beat" in invocation.argv


@pytest.mark.parametrize(("option", "value"), [("--device", "tpu"), ("--concurrency", "0")])
def test_it_refuses_a_bad_option(option, value):
    with pytest.raises(CommandError, match=option):
        call_command("runworker", option, value)
