"""OPC UA devices (PLCs, BMS): configured node map, subscriptions in, writes out."""
