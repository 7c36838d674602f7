"""Result files: the atomic JSON write of the shared base (``jaxcs._files``), public here."""

from jaxcs._files import write_json as write_json
