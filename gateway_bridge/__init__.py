"""Interoperable home-gateway bridge (IHG) and smart-home comfort rules (ISM).

MQTT gateways (Zigbee2MQTT, openHAB) -> adapters -> SAREF-like readings on the bus topic
``meter.readings`` and a device status store; household preferences -> comfort rules ->
device commands on the gateways' ``.../set`` / ``.../command`` topics.
"""
