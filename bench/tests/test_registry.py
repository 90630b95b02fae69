import time

from bench.harness.__main__ import MODES
from bench.harness.measure import Clocks
from bench.harness.servers import SERVERS, standin_spec


def test_every_mode_names_known_servers():
    for _title, names in MODES.values():
        assert set(names) <= set(SERVERS)


def test_servers_listen_on_distinct_ports():
    ports = [s.port for s in SERVERS.values() if s.port is not None]

    assert len(ports) == len(set(ports))


def test_the_stand_in_replaces_only_how_ours_is_launched():
    standin = standin_spec()

    assert standin.name == "ours"
    assert standin.port == SERVERS["ours"].port
    assert standin.launch is not SERVERS["ours"].launch


def test_a_frozen_machine_shows_as_wall_time_beyond_monotonic_time(monkeypatch):
    clocks = Clocks()
    frozen_wall = time.time() + 12

    monkeypatch.setattr(time, "time", lambda: frozen_wall)

    assert clocks.paused() >= 11.5


def test_an_unfrozen_machine_shows_no_pause():
    assert Clocks().paused() == 0.0
