"""Subscriptions at work: matching changes (``matcher``), delivering notifications
over HTTP and MQTT (``dispatcher``, ``senders``) and live streams (``stream``)."""
