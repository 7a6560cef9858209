"""IEC 61850 MMS devices (DER IEDs): open61850 client, SCL model discovery, mapped controls."""
