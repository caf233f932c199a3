"""``get_config`` written once for tfpose's models and trunk.

A Keras object round-trips through ``cls.from_config(obj.get_config())``
when its config holds every constructor argument. :class:`ConstructorConfig`
builds that config from the constructor's signature: each named argument is
read back from the attribute of the same name (the value the constructor
kept, e.g. a canonical skeleton name), so adding an argument and storing it
is all a class needs to do to keep round-tripping.
"""

from __future__ import annotations

import inspect
from typing import List, Tuple

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class ConstructorConfig:
    """Mixin (before the Keras base class): config = the constructor's named
    arguments, each read from ``self.<argument>``.

    A constructor that forwards ``**kwargs`` to a parent's constructor gets
    the parent's named arguments too. ``config_excluded`` names arguments
    left out (aliases of another argument).
    """

    config_excluded: Tuple[str, ...] = ()

    @classmethod
    def config_arguments(cls) -> List[str]:
        """The constructor arguments that make up the config, in signature order."""
        names: List[str] = []
        for klass in cls.__mro__:
            if not issubclass(klass, ConstructorConfig) or klass is ConstructorConfig:
                break
            if "__init__" not in vars(klass):
                continue
            params = list(inspect.signature(klass.__init__).parameters.values())[1:]
            names += [p.name for p in params if p.kind in _NAMED and p.name not in names]
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                break
        return [n for n in names if n not in cls.config_excluded]

    def get_config(self):
        config = super().get_config()
        for name in self.config_arguments():
            if not hasattr(self, name):
                raise AttributeError(f"{type(self).__name__} keeps no attribute {name!r} for "
                                     f"its constructor argument {name!r}; get_config needs it")
            config[name] = getattr(self, name)
        return config


__all__ = ["ConstructorConfig"]
