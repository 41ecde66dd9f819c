"""The cap on long-lived requests: in all per process, and per client address; a slot given back once."""

from bot.streams import StreamSlots


def test_the_process_cap_holds_over_many_addresses_and_the_client_cap_per_address():
    slots = StreamSlots(total=4, per_client=2)
    assert slots.take("10.0.0.1") and slots.take("10.0.0.1")
    assert not slots.take("10.0.0.1")  # a third tab of the same viewer polls instead
    assert slots.take("10.0.0.2") and slots.take("10.0.0.3")
    assert not slots.take("10.0.0.4") and slots.held() == 4  # the process is full, whoever asks
    slots.give_back("10.0.0.2")
    assert slots.take("10.0.0.4")


def test_a_releaser_gives_its_slot_back_once_however_often_it_is_called():
    slots = StreamSlots(total=1, per_client=1)
    assert slots.take("a")
    release = slots.releaser("a")
    release()
    release()  # close and an error path may both call it
    assert slots.held() == 0 and slots.take("a") and not slots.take("b")


def test_no_streams_at_all_when_the_cap_is_zero():
    assert not StreamSlots(total=0).take("a")
