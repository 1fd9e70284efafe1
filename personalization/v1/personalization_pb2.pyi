import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_WEB_CHAT: _ClassVar[Channel]
    CHANNEL_MOBILE_APP: _ClassVar[Channel]
    CHANNEL_MESSAGING: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_VOICE: _ClassVar[Channel]

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_DESKTOP: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]

class IssueCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUE_CATEGORY_UNSPECIFIED: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_BILLING: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_TECHNICAL: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_ACCOUNT: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_SHIPPING: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_CANCELLATION: _ClassVar[IssueCategory]
    ISSUE_CATEGORY_GENERAL: _ClassVar[IssueCategory]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_SELF_SERVICE_ARTICLE: _ClassVar[Action]
    ACTION_GUIDED_TROUBLESHOOTING: _ClassVar[Action]
    ACTION_ACCOUNT_BILLING_ANSWER: _ClassVar[Action]
    ACTION_RETENTION_OFFER: _ClassVar[Action]
    ACTION_PRIORITY_QUEUE: _ClassVar[Action]
    ACTION_HUMAN_HANDOFF: _ClassVar[Action]
    ACTION_PROACTIVE_FOLLOW_UP: _ClassVar[Action]

class EscalationBand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_BAND_UNSPECIFIED: _ClassVar[EscalationBand]
    ESCALATION_BAND_LOW: _ClassVar[EscalationBand]
    ESCALATION_BAND_MEDIUM: _ClassVar[EscalationBand]
    ESCALATION_BAND_HIGH: _ClassVar[EscalationBand]

class Formality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMALITY_UNSPECIFIED: _ClassVar[Formality]
    FORMALITY_FORMAL: _ClassVar[Formality]
    FORMALITY_CASUAL: _ClassVar[Formality]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_WEB_CHAT: Channel
CHANNEL_MOBILE_APP: Channel
CHANNEL_MESSAGING: Channel
CHANNEL_EMAIL: Channel
CHANNEL_VOICE: Channel
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_DESKTOP: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
ISSUE_CATEGORY_UNSPECIFIED: IssueCategory
ISSUE_CATEGORY_BILLING: IssueCategory
ISSUE_CATEGORY_TECHNICAL: IssueCategory
ISSUE_CATEGORY_ACCOUNT: IssueCategory
ISSUE_CATEGORY_SHIPPING: IssueCategory
ISSUE_CATEGORY_CANCELLATION: IssueCategory
ISSUE_CATEGORY_GENERAL: IssueCategory
ACTION_UNSPECIFIED: Action
ACTION_SELF_SERVICE_ARTICLE: Action
ACTION_GUIDED_TROUBLESHOOTING: Action
ACTION_ACCOUNT_BILLING_ANSWER: Action
ACTION_RETENTION_OFFER: Action
ACTION_PRIORITY_QUEUE: Action
ACTION_HUMAN_HANDOFF: Action
ACTION_PROACTIVE_FOLLOW_UP: Action
ESCALATION_BAND_UNSPECIFIED: EscalationBand
ESCALATION_BAND_LOW: EscalationBand
ESCALATION_BAND_MEDIUM: EscalationBand
ESCALATION_BAND_HIGH: EscalationBand
FORMALITY_UNSPECIFIED: Formality
FORMALITY_FORMAL: Formality
FORMALITY_CASUAL: Formality

class TurnContext(_message.Message):
    __slots__ = ("channel", "device_type", "issue_category", "sentiment", "event_time", "time_zone", "locale", "turn_index")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TURN_INDEX_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    device_type: DeviceType
    issue_category: IssueCategory
    sentiment: float
    event_time: _timestamp_pb2.Timestamp
    time_zone: str
    locale: str
    turn_index: int
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., issue_category: _Optional[_Union[IssueCategory, str]] = ..., sentiment: _Optional[float] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_zone: _Optional[str] = ..., locale: _Optional[str] = ..., turn_index: _Optional[int] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("customer_id", "context", "request_id", "conversation_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    context: TurnContext
    request_id: str
    conversation_id: str
    def __init__(self, customer_id: _Optional[str] = ..., context: _Optional[_Union[TurnContext, _Mapping]] = ..., request_id: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class EscalationRisk(_message.Message):
    __slots__ = ("probability", "band")
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    probability: float
    band: EscalationBand
    def __init__(self, probability: _Optional[float] = ..., band: _Optional[_Union[EscalationBand, str]] = ...) -> None: ...

class ScoredAction(_message.Message):
    __slots__ = ("action", "predicted_success")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    action: Action
    predicted_success: float
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., predicted_success: _Optional[float] = ...) -> None: ...

class NextBestAction(_message.Message):
    __slots__ = ("action", "predicted_success", "propensity", "reason_codes", "alternatives")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    REASON_CODES_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    action: Action
    predicted_success: float
    propensity: float
    reason_codes: _containers.RepeatedScalarFieldContainer[str]
    alternatives: _containers.RepeatedCompositeFieldContainer[ScoredAction]
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., predicted_success: _Optional[float] = ..., propensity: _Optional[float] = ..., reason_codes: _Optional[_Iterable[str]] = ..., alternatives: _Optional[_Iterable[_Union[ScoredAction, _Mapping]]] = ...) -> None: ...

class StyleHints(_message.Message):
    __slots__ = ("formality", "language")
    FORMALITY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    formality: Formality
    language: str
    def __init__(self, formality: _Optional[_Union[Formality, str]] = ..., language: _Optional[str] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("decision_id", "request_id", "segment", "escalation_risk", "next_best_action", "style", "personalized", "not_personalized_reason", "degraded", "degraded_reasons", "feature_age", "model_version", "arm", "realtime_age", "realtime_fallback_reasons")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_RISK_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEST_ACTION_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    PERSONALIZED_FIELD_NUMBER: _ClassVar[int]
    NOT_PERSONALIZED_REASON_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASONS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_AGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    REALTIME_AGE_FIELD_NUMBER: _ClassVar[int]
    REALTIME_FALLBACK_REASONS_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    request_id: str
    segment: Segment
    escalation_risk: EscalationRisk
    next_best_action: NextBestAction
    style: StyleHints
    personalized: bool
    not_personalized_reason: str
    degraded: bool
    degraded_reasons: _containers.RepeatedScalarFieldContainer[str]
    feature_age: _duration_pb2.Duration
    model_version: str
    arm: str
    realtime_age: _duration_pb2.Duration
    realtime_fallback_reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision_id: _Optional[str] = ..., request_id: _Optional[str] = ..., segment: _Optional[_Union[Segment, _Mapping]] = ..., escalation_risk: _Optional[_Union[EscalationRisk, _Mapping]] = ..., next_best_action: _Optional[_Union[NextBestAction, _Mapping]] = ..., style: _Optional[_Union[StyleHints, _Mapping]] = ..., personalized: _Optional[bool] = ..., not_personalized_reason: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reasons: _Optional[_Iterable[str]] = ..., feature_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., model_version: _Optional[str] = ..., arm: _Optional[str] = ..., realtime_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., realtime_fallback_reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class DecideBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[DecideRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[DecideRequest, _Mapping]]] = ...) -> None: ...

class DecideBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[DecideResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[DecideResponse, _Mapping]]] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("decision_id", "resolved", "escalated", "csat", "event_time", "request_id", "conversation_id")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    resolved: bool
    escalated: bool
    csat: int
    event_time: _timestamp_pb2.Timestamp
    request_id: str
    conversation_id: str
    def __init__(self, decision_id: _Optional[str] = ..., resolved: _Optional[bool] = ..., escalated: _Optional[bool] = ..., csat: _Optional[int] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class RecordOutcomeResponse(_message.Message):
    __slots__ = ("recorded", "duplicate", "request_id")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    duplicate: bool
    request_id: str
    def __init__(self, recorded: _Optional[bool] = ..., duplicate: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordOutcomeBatchRequest(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[RecordOutcomeRequest]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[RecordOutcomeRequest, _Mapping]]] = ...) -> None: ...

class RecordOutcomeBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[RecordOutcomeResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[RecordOutcomeResponse, _Mapping]]] = ...) -> None: ...
