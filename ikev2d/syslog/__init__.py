"""FTD syslog: a catalogue of messages, core events rendered into them,
the VPN logging level, and the console, file and syslog-server destinations."""

from .catalogue import CATALOGUE, Message, Record
from .pipeline import SyslogPipeline
from .render import records_for
from .setup import pipeline_from_config

__all__ = ["CATALOGUE", "Message", "Record", "SyslogPipeline", "records_for", "pipeline_from_config"]
