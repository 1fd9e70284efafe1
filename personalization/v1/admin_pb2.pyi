from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReloadModelsRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class ReloadModelsResponse(_message.Message):
    __slots__ = ("previous_version", "loaded_version", "message")
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOADED_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    previous_version: str
    loaded_version: str
    message: str
    def __init__(self, previous_version: _Optional[str] = ..., loaded_version: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LoadExperimentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExperimentArm(_message.Message):
    __slots__ = ("name", "version", "share", "control")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    share: float
    control: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., share: _Optional[float] = ..., control: _Optional[bool] = ...) -> None: ...

class LoadExperimentResponse(_message.Message):
    __slots__ = ("name", "arms", "shadow_versions", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    arms: _containers.RepeatedCompositeFieldContainer[ExperimentArm]
    shadow_versions: _containers.RepeatedScalarFieldContainer[str]
    message: str
    def __init__(self, name: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[ExperimentArm, _Mapping]]] = ..., shadow_versions: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ...) -> None: ...

class PromoteArmRequest(_message.Message):
    __slots__ = ("arm", "move_current")
    ARM_FIELD_NUMBER: _ClassVar[int]
    MOVE_CURRENT_FIELD_NUMBER: _ClassVar[int]
    arm: str
    move_current: bool
    def __init__(self, arm: _Optional[str] = ..., move_current: _Optional[bool] = ...) -> None: ...

class PromoteArmResponse(_message.Message):
    __slots__ = ("serving", "current_version")
    SERVING_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    serving: LoadExperimentResponse
    current_version: str
    def __init__(self, serving: _Optional[_Union[LoadExperimentResponse, _Mapping]] = ..., current_version: _Optional[str] = ...) -> None: ...
