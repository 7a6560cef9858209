"""OpenADR 2.0b adapter: safe XML layer, codec to the native model, VTN/VEN transports.

openleadr supplies the message templates and the dict shape of parsed payloads;
every inbound document passes our own safe parser and XSD check first
(openleadr 0.5.36's validator segfaults on entity-expansion payloads).
"""
