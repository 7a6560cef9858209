"""The flex-offer agent (FOA, F2.FOA1-4): offers from device state, schedules back to devices."""
