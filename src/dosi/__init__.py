"""dosi (도시): an open-source smart-city data hub built around an ETSI NGSI-LD broker."""

__version__ = "0.1.0"
