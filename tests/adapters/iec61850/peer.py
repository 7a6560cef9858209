"""The independent test peer: a libiec61850 (C) MMS server from pyiec61850-ng.

It holds a small DER model built at run time: LLN0, MMXU1.TotW (MV) and
DRCC1.OutWSet (APC, direct control with normal security). Its control handler
accepts a set-point into OutWSet.mxVal and the simulated inverter follows it, so
TotW shows what the client commanded.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyiec61850.pyiec61850 as iec

IED, LD = "SIM", "DER"
DOMAIN = IED + LD


# pyiec61850-ng registers control subscribers in a process-wide registry under one
# fixed id, and freeing one crashes the interpreter (SWIG director teardown). So a
# process holds at most one peer with controls: ``shared_peer()`` starts it once and
# keeps it (and its subscriber) for the life of the test process.
_SHARED: list[Libiec61850Peer] = []
_NEVER_FREED: list[Any] = []


def shared_peer() -> Libiec61850Peer:
    """The process's controllable peer, started on first use, reset for each caller."""
    if not _SHARED:
        peer = Libiec61850Peer()
        peer.start()
        _SHARED.append(peer)
    _SHARED[0].reset()
    return _SHARED[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(iec.ControlHandlerForPython):  # type: ignore[misc,name-defined]
    def __init__(self, peer: Libiec61850Peer) -> None:
        super().__init__()
        self._peer = peer

    def trigger(self) -> None:
        value = iec.MmsValue_toFloat(iec.MmsValue_getElement(self._libiec61850_mms_value, 0))
        self._libiec61850_control_handler_result = self._peer.on_setpoint(value)


@dataclass
class Libiec61850Peer:
    max_w: float = 5000.0
    port: int = 0
    controls: bool = True
    refuse: bool = False
    setpoints: list[float] = field(default_factory=list)
    _model: Any = None
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> int:
        model = iec.IedModel_create(IED)
        ld = iec.LogicalDevice_create(LD, model)
        lln0 = iec.LogicalNode_create("LLN0", ld)
        iec.CDC_ENS_create("Mod", iec.toModelNode(lln0), 0)
        mmxu = iec.LogicalNode_create("MMXU1", ld)
        iec.CDC_MV_create("TotW", iec.toModelNode(mmxu), 0, False)
        # A data set of the measurement and an unbuffered report control block over it.
        data_set = iec.DataSet_create("Meas", lln0)
        iec.DataSetEntry_create(data_set, "MMXU1$MX$TotW", -1, None)
        iec.ReportControlBlock_create("urcbMeas01", lln0, "urcbMeas01", False, "Meas", 1,
                                      iec.TRG_OPT_DATA_CHANGED | iec.TRG_OPT_INTEGRITY,
                                      iec.RPT_OPT_SEQ_NUM | iec.RPT_OPT_DATA_SET, 50, 0)
        drcc = iec.LogicalNode_create("DRCC1", ld)
        iec.CDC_APC_create("OutWSet", iec.toModelNode(drcc), 0, iec.CDC_CTL_MODEL_DIRECT_NORMAL, False)
        self._model = model
        self._server = iec.IedServer_create(model)
        self.port = self.port or _free_port()
        iec.IedServer_start(self._server, self.port)
        if not iec.IedServer_isRunning(self._server):
            raise RuntimeError(f"libiec61850 server did not start on {self.port}")
        self.set_power(0.0)
        if not self.controls:
            return self.port
        subscriber = iec.ControlSubscriberForPython()
        subscriber.setIedServer(self._server)
        subscriber.setControlObject(iec.toDataObject(self._node(f"{DOMAIN}/DRCC1.OutWSet")))
        handler = _Handler(self)
        subscriber.setControlHandler(handler)
        subscriber.subscribe()
        _NEVER_FREED.extend([subscriber, handler])
        return self.port

    def reset(self) -> None:
        with self._lock:
            self.setpoints.clear()
            self.refuse = False
            self.max_w = 5000.0
            self._update(f"{DOMAIN}/DRCC1.OutWSet.mxVal.f", 0.0)
            self.set_power(0.0)

    def stop(self) -> None:
        if self._server is not None:
            iec.IedServer_stop(self._server)
            iec.IedServer_destroy(self._server)
            self._server = None

    def _node(self, reference: str) -> Any:
        node = iec.IedModel_getModelNodeByObjectReference(self._model, reference)
        if not node:
            raise KeyError(reference)
        return node

    def _update(self, reference: str, value: float) -> None:
        """Set a float attribute and its data object's timestamp, as an IED does."""
        iec.IedServer_updateFloatAttributeValue(self._server, iec.toDataAttribute(self._node(reference)), value)
        data_object = reference.rsplit(".", 2)[0]
        iec.IedServer_updateUTCTimeAttributeValue(self._server, iec.toDataAttribute(self._node(f"{data_object}.t")),
                                                  int(time.time() * 1000))

    def set_power(self, watts: float) -> None:
        """The inverter's measured active power (the IED's own sign)."""
        self._update(f"{DOMAIN}/MMXU1.TotW.mag.f", watts)

    def on_setpoint(self, watts: float) -> int:
        with self._lock:
            if self.refuse or abs(watts) > self.max_w:
                return iec.CONTROL_RESULT_FAILED
            self.setpoints.append(watts)
            self._update(f"{DOMAIN}/DRCC1.OutWSet.mxVal.f", watts)
            self.set_power(watts)
            return iec.CONTROL_RESULT_OK
