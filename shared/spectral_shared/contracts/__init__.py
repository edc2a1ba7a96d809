"""The contracts of the events that cross a service boundary: for each, its routing key and its
typed payload, imported by the producer (which declares it in its catalog) and by every consumer
(which registers a handler for it). One module per producer.

Changing a payload here changes it for both sides at once; a change a consumer of an older
version could not read gets a new version (``Contract(version=2)``) instead.
"""
